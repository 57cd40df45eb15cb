//! The demo school's buyers: Brazilian names, e-mails at example domains and
//! fictitious mobile numbers, drawn from a seeded generator so every fill
//! meets the same people.

use rand::Rng;
use rand::seq::SliceRandom;

const FIRST_NAMES: &[&str] = &[
    "Ana",
    "Maria",
    "Juliana",
    "Fernanda",
    "Patrícia",
    "Camila",
    "Aline",
    "Bruna",
    "Letícia",
    "Mariana",
    "Gabriela",
    "Larissa",
    "Vanessa",
    "Renata",
    "Tatiane",
    "Débora",
    "Priscila",
    "Natália",
    "Beatriz",
    "Luana",
    "Simone",
    "Cláudia",
    "Adriana",
    "Sandra",
    "Rafaela",
    "Thaís",
    "Carolina",
    "Jéssica",
    "Daniela",
    "Vitória",
    "João",
    "José",
    "Carlos",
    "Lucas",
    "Pedro",
    "Rafael",
    "Gabriel",
    "Marcos",
    "Felipe",
    "Bruno",
    "Rodrigo",
    "Thiago",
    "André",
    "Gustavo",
    "Diego",
    "Leandro",
    "Eduardo",
    "Fábio",
    "Paulo",
    "Ricardo",
    "Vinícius",
    "Matheus",
    "Leonardo",
    "Caio",
    "Henrique",
];

const SURNAMES: &[&str] = &[
    "Silva",
    "Santos",
    "Oliveira",
    "Souza",
    "Rodrigues",
    "Ferreira",
    "Alves",
    "Pereira",
    "Lima",
    "Gomes",
    "Costa",
    "Ribeiro",
    "Martins",
    "Carvalho",
    "Almeida",
    "Lopes",
    "Soares",
    "Fernandes",
    "Vieira",
    "Barbosa",
    "Rocha",
    "Dias",
    "Nascimento",
    "Andrade",
    "Moreira",
    "Nunes",
    "Marques",
    "Machado",
    "Mendes",
    "Freitas",
    "Cardoso",
    "Ramos",
    "Gonçalves",
    "Santana",
    "Teixeira",
    "Araújo",
    "Pinto",
    "Cavalcanti",
    "Monteiro",
    "Moura",
];

/// Area codes of the capitals and large cities buyers come from, the
/// biggest ones more often.
const AREA_CODES: &[&str] = &[
    "11", "11", "11", "21", "21", "31", "41", "51", "61", "71", "81", "85", "19", "27", "48", "62",
    "92", "98",
];

/// Example mail domains: the demo's addresses are no one's.
const DOMAINS: &[&str] = &["exemplo.com.br", "exemplo.net.br", "email.exemplo.com"];

/// One buyer as Hotmart's checkout knows them.
#[derive(Debug, Clone)]
pub struct DemoPerson {
    pub name: String,
    pub email: String,
    /// `checkout_phone_code` and `checkout_phone`: country 55, then area
    /// code and a made-up mobile number, 9 0xxx-xxxx. Nothing is ever sent
    /// to it: the fill's messages go to the local sandbox.
    pub phone: (String, String),
    /// An 11-digit CPF-shaped document with valid check digits.
    pub document: String,
}

/// Person number `index` of the school, drawn from `rng`.
pub fn person(rng: &mut impl Rng, index: usize) -> DemoPerson {
    let first = FIRST_NAMES.choose(rng).copied().unwrap_or("Ana");
    let last = SURNAMES.choose(rng).copied().unwrap_or("Silva");
    let middle = rng
        .gen_bool(0.4)
        .then(|| SURNAMES.choose(rng).copied().unwrap_or("Souza"));
    let name = match middle {
        Some(middle) if middle != last => format!("{first} {middle} {last}"),
        _ => format!("{first} {last}"),
    };
    let domain = DOMAINS.choose(rng).copied().unwrap_or(DOMAINS[0]);
    let email = format!(
        "{}.{}{}@{domain}",
        ascii_lower(first),
        ascii_lower(last),
        index + 1
    );
    let area = AREA_CODES.choose(rng).copied().unwrap_or("11");
    let number = format!("90{:03}{:04}", index % 1000, rng.gen_range(0..10_000));
    DemoPerson {
        name,
        email,
        phone: ("55".to_owned(), format!("{area}{number}")),
        document: cpf(rng),
    }
}

/// `José` → `jose`: e-mail local parts stay ASCII.
fn ascii_lower(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            'á' | 'à' | 'ã' | 'â' | 'Á' => 'a',
            'é' | 'ê' | 'É' => 'e',
            'í' | 'Í' => 'i',
            'ó' | 'ô' | 'õ' | 'Ó' => 'o',
            'ú' | 'Ú' => 'u',
            'ç' => 'c',
            other => other.to_ascii_lowercase(),
        })
        .collect()
}

/// A CPF-shaped number whose two check digits are right.
fn cpf(rng: &mut impl Rng) -> String {
    let mut digits: Vec<u32> = (0..9).map(|_| rng.gen_range(0..10)).collect();
    for length in [9, 10] {
        let sum: u32 = digits
            .iter()
            .enumerate()
            .map(|(i, d)| d * (length as u32 + 1 - i as u32))
            .sum();
        let check = (sum * 10) % 11 % 10;
        digits.push(check);
    }
    digits.iter().map(|d| char::from(b'0' + *d as u8)).collect()
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn people_are_the_same_for_the_same_seed_and_fictitious() {
        let one: Vec<_> = (0..50)
            .map(|i| person(&mut StdRng::seed_from_u64(i as u64), i))
            .collect();
        let two: Vec<_> = (0..50)
            .map(|i| person(&mut StdRng::seed_from_u64(i as u64), i))
            .collect();
        for (a, b) in one.iter().zip(&two) {
            assert_eq!((&a.name, &a.email, &a.phone), (&b.name, &b.email, &b.phone));
            assert!(a.email.is_ascii() && a.email.contains("exemplo"));
            assert_eq!(a.phone.1.len(), 11);
            assert_eq!(&a.phone.1[2..4], "90");
            assert_eq!(a.document.len(), 11);
        }
        assert_eq!(ascii_lower("Gonçalves"), "goncalves");
    }
}
